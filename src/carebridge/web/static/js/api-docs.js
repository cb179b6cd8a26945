// Starts Swagger UI from our own static files (no CDN) once its bundle has loaded.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});
