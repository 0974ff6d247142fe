"""devhost: a local Azure Functions + Durable Functions host for ddd-transfer.

It loads ``function_app.py`` as it is, serves its HTTP triggers, and runs its orchestrators
through the Durable SDK's own replay engine with a real, persisted history. See the README.
"""
