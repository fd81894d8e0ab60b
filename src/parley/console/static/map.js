/* Maps on an offline basemap: Natural Earth 1:50m coastlines and borders (world-atlas
   TopoJSON, vendored), drawn as Leaflet vector layers. No tile server is ever contacted. */
(function () {
  "use strict";
  if (!window.L || !window.topojson) return;
  var BASEMAP = "/console/static/vendor/world-atlas/countries-50m.json";
  var BARENTS = [71.0, 35.0];
  var basemap = null;

  function loadBasemap() {
    if (!basemap) {
      basemap = fetch(BASEMAP, { credentials: "same-origin" }).then(function (r) { return r.json(); });
    }
    return basemap;
  }

  // Leaflet draws on a plane: a ring or line that crosses the antimeridian (Chukotka, the
  // Bering Strait) would jump from +180 to -180 across the whole map. Unwrap each so it
  // continues past 180 instead; worldCopyJump shows it where the reader expects.
  function unwrap(points) {
    var offset = 0;
    for (var i = 1; i < points.length; i++) {
      var prev = points[i - 1][0];
      var lon = points[i][0] + offset;
      if (lon - prev > 180) offset -= 360; else if (prev - lon > 180) offset += 360;
      points[i] = [points[i][0] + offset, points[i][1]];
    }
    return points;
  }

  function unwrapGeometry(geometry) {
    var t = geometry.type, c = geometry.coordinates;
    if (t === "LineString") unwrap(c);
    else if (t === "MultiLineString" || t === "Polygon") c.forEach(unwrap);
    else if (t === "MultiPolygon") c.forEach(function (polygon) { polygon.forEach(unwrap); });
    else if (t === "GeometryCollection") geometry.geometries.forEach(unwrapGeometry);
    return geometry;
  }

  function unwrapAll(geojson) {
    if (geojson.type === "FeatureCollection") geojson.features.forEach(function (f) { unwrapGeometry(f.geometry); });
    else if (geojson.type === "Feature") unwrapGeometry(geojson.geometry);
    else unwrapGeometry(geojson);
    return geojson;
  }

  function makeMap(el, zoom) {
    var map = L.map(el, { worldCopyJump: true, minZoom: 1, maxZoom: 12, keyboard: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Natural Earth");
    map.setView(BARENTS, zoom || 4);
    loadBasemap().then(function (topo) {
      // Land is filled country by country: Natural Earth cuts countries at the antimeridian,
      // whereas the merged "land" ring of Chukotka would cross it and band the whole map.
      L.geoJSON(unwrapAll(topojson.feature(topo, topo.objects.countries)), {
        style: { stroke: false, fillColor: "#f3efe4", fillOpacity: 1 }, interactive: false
      }).addTo(map);
      L.geoJSON(unwrapAll(topojson.mesh(topo, topo.objects.countries, function (a, b) { return a !== b; })), {
        style: { color: "#8a4b6b", weight: 1, dashArray: "4 3" }, interactive: false
      }).addTo(map);
      L.geoJSON(unwrapAll(topojson.mesh(topo, topo.objects.countries, function (a, b) { return a === b; })), {
        style: { color: "#4a6a8a", weight: 0.8 }, interactive: false
      }).addTo(map);
      el.dataset.basemap = "loaded";
    });
    return map;
  }

  function round(v) { return Math.round(v * 100000) / 100000; }

  function wrapLon(lon) { return ((((lon + 180) % 360) + 360) % 360) - 180; }

  function pointPicker(el) {
    var lat = document.getElementById(el.dataset.lat);
    var lon = document.getElementById(el.dataset.lon);
    var map = makeMap(el, 4);
    var marker = null;
    function place(latlng, pan) {
      if (!marker) marker = L.marker(latlng, { keyboard: false }).addTo(map);
      marker.setLatLng(latlng);
      if (pan) map.panTo(latlng);
    }
    function fromInputs() {
      var a = parseFloat((lat.value || "").replace(",", "."));
      var b = parseFloat((lon.value || "").replace(",", "."));
      if (!isNaN(a) && !isNaN(b)) place([a, b], true);
    }
    map.on("click", function (ev) {
      lat.value = round(ev.latlng.lat);
      lon.value = round(wrapLon(ev.latlng.lng));
      place(ev.latlng, false);
      el.dataset.picked = lat.value + "," + lon.value;
    });
    lat.addEventListener("change", fromInputs);
    lon.addEventListener("change", fromInputs);
    fromInputs();
  }

  function parseCorners(text) {
    var out = [];
    text.replace(/;/g, "\n").split("\n").forEach(function (line) {
      var parts = line.trim().split(/[\s,]+/).filter(Boolean).map(Number);
      if (parts.length === 2 && !isNaN(parts[0]) && !isNaN(parts[1])) out.push([parts[0], parts[1]]);
    });
    return out;
  }

  function polygonPicker(el) {
    var area = document.getElementById(el.dataset.target);
    var map = makeMap(el, 4);
    var shape = null;
    function draw() {
      var corners = parseCorners(area.value);
      if (shape) map.removeLayer(shape);
      shape = corners.length >= 3 ? L.polygon(corners, { color: "#b00020" }) : L.polyline(corners, { color: "#b00020" });
      shape.addTo(map);
    }
    map.on("click", function (ev) {
      var line = round(ev.latlng.lat) + ", " + round(wrapLon(ev.latlng.lng));
      area.value = (area.value.trim() ? area.value.trim() + "\n" : "") + line;
      draw();
    });
    area.addEventListener("change", draw);
    var clear = document.querySelector('.map-clear[data-target="' + el.dataset.target + '"]');
    if (clear) clear.addEventListener("click", function () { area.value = ""; draw(); area.focus(); });
    draw();
  }

  function incidentMap(el) {
    var data = JSON.parse(document.getElementById("incident-data").textContent || "{}");
    var map = makeMap(el, 4);
    var layer = L.geoJSON(data, {
      pointToLayer: function (feature, latlng) {
        var p = feature.properties || {};
        if (p.radius_m) return L.circle(latlng, { radius: p.radius_m, color: "#b00020" });
        return L.circleMarker(latlng, { radius: 8, color: "#7a0016", fillColor: p.drill ? "#6d28d9" : "#d0021b", fillOpacity: 0.9, weight: 2 });
      },
      style: function () { return { color: "#b00020", weight: 2 }; },
      onEachFeature: function (feature, lyr) {
        var p = feature.properties || {};
        var a = document.createElement("a");
        a.href = "/console/messages/" + encodeURIComponent(p.id || "");
        a.textContent = p.title || p.type || "";
        lyr.bindPopup(a);
      }
    }).addTo(map);
    if (data.features && data.features.length) {
      map.fitBounds(layer.getBounds().pad(0.5), { maxZoom: 5 });
    }
    el.dataset.features = String((data.features || []).length);
  }

  var pickers = document.querySelectorAll(".pick-map");
  for (var i = 0; i < pickers.length; i++) {
    if (pickers[i].dataset.pick === "point") pointPicker(pickers[i]); else polygonPicker(pickers[i]);
  }
  var incidents = document.getElementById("incident-map");
  if (incidents) incidentMap(incidents);
})();
