// A form posted through htmx that has errors comes back as 400 (or 409: a draft changed meanwhile) with
// the form redrawn at its fields. htmx swaps only 2xx answers by default, so those errors would never
// reach the screen: swap them as well. Other 4xx/5xx answers stay errors (htmx:responseError).
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "[23]..", swap: true },
  { code: "40[09]", swap: true, error: false },
  { code: "422", swap: true, error: false },
  { code: "[45]..", swap: false, error: true },
  { code: "...", swap: false },
];
