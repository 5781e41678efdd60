"""Pages for people: upload (``/``), share (``/p/<id>``), statistics (``/p/<id>/stats``) and my
images (``/me``). Static HTML, CSS and JS served by Enlarger (no build step), thin clients of the
JSON API; only the share page is rendered by the server, as its OpenGraph tags must be in the
HTML that chat apps fetch."""
