// The counter form's position from the phone's location service, when the
// person presses the button. The console works without script: then the
// button stays hidden and the degrees are typed, or taken from a photo.
(function () {
  "use strict";
  var button = document.getElementById("locate");
  if (!button || !navigator.geolocation) {
    return;
  }
  var field = function (id) { return document.getElementById(id); };
  var status = field("locate-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = button.dataset.busy;
    navigator.geolocation.getCurrentPosition(function (position) {
      field("latitude").value = position.coords.latitude.toFixed(6);
      field("longitude").value = position.coords.longitude.toFixed(6);
      field("accuracy_m").value = String(Math.round(position.coords.accuracy));
      field("point_source").value = "device";
      status.textContent = button.dataset.done;
    }, function () {
      status.textContent = button.dataset.failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
  // Degrees typed over the phone's are the person's own.
  ["latitude", "longitude"].forEach(function (id) {
    field(id).addEventListener("input", function () {
      field("point_source").value = "entered";
      field("accuracy_m").value = "";
    });
  });
})();
