"""The monitoring web process: entries, per-entry/per-client graphs, pilots, /metrics.

`app.WebApp` turns a request path into a response (testable without sockets);
`server` runs it in its own process on loopback. Pages read a `MonitoringSource`
(glidein.common.monitoring.model) and the RRD files of a `RRDStore`.
"""
