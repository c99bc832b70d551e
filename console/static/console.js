// Small helpers only; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy the error of a DLQ entry with one click.
  const err = document.getElementById("error");
  if (err && navigator.clipboard) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Copy error";
    b.addEventListener("click", () => navigator.clipboard.writeText(err.textContent));
    err.after(b);
  }
});
