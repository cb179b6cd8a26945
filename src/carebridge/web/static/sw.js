// CareBridge service worker: shows push messages and opens their link when clicked.
self.addEventListener("push", (event) => {
  const message = event.data ? event.data.json() : { title: "CareBridge", body: "" };
  event.waitUntil(
    self.registration.showNotification(message.title, {
      body: message.body,
      icon: "/static/img/favicon.svg",
      data: { link: message.link || "/notifications" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(clients.openWindow(event.notification.data.link));
});
