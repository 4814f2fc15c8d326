"""Messages: the outbox that journey steps write and providers deliver."""
