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

// A form redrawn by htmx (picking an event redraws its filters) is answered with the values it was sent:
// anything typed while that answer was on its way would be wiped by it. What was typed meanwhile is put
// back into the redrawn form.
let typedMeanwhile = null;
document.addEventListener("htmx:beforeRequest", () => {
  typedMeanwhile = new Map();
});
document.addEventListener(
  "input",
  (event) => {
    const field = event.target;
    const kept = field.name && !["file", "checkbox", "radio", "hidden"].includes(field.type);
    if (typedMeanwhile && kept) typedMeanwhile.set(field.name, field.value);
  },
  true,
);
document.addEventListener("htmx:afterSettle", () => {
  if (!typedMeanwhile) return;
  for (const [name, value] of typedMeanwhile) {
    const field = document.querySelector(`[name="${CSS.escape(name)}"]`);
    if (field && field.value !== value) field.value = value;
  }
  typedMeanwhile = null;
});
