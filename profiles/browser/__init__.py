"""The browser boundary: the consent banner and collection snippet (`static/hub.js`), their endpoints
(site keys, origins, throttles) and the noscript pixel."""
