"""Monitoring shared by the factory and the frontend: data model, RRD files, Prometheus metrics.

Each daemon fills the data model (`model.py`) once per cycle and calls
`recorder.Monitor.record_cycle(...)`; the web process (`glidein.common.web`) reads the same
numbers back through a `MonitoringSource`.
"""
