"""The operator console: a web page a duty officer can run a 24/7 watch from.

Server-rendered HTML (Jinja2), progressively enhanced with htmx and live updates by
server-sent events (WHATWG HTML §9.2); maps with Leaflet on an offline Natural Earth
basemap. Mounted on the node's HTTP application by :func:`parley.console.app.mount_console`.
See docs/console.md.
"""
