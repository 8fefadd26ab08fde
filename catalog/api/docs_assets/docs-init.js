// Starts Swagger UI on /docs. A file of its own, not an inline script: the page's Content-Security-Policy
// allows scripts from this origin only. The document's URL comes from the page (data-openapi on <body>).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default would send the document to an outside validator
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
