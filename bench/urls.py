"""The product's URL tree plus `/bench/bare`, the ingest_track ceiling: a Django view on the same server
and middleware that only parses the JSON body and answers like /v1/track does."""

import orjson
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as product_urls


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    orjson.loads(request.body)
    return HttpResponse(b'{"success": true}', content_type="application/json")


urlpatterns = [path("bench/bare", bare), *product_urls]
