"""The bottom layer: what every other layer shares and nothing depends on below it.

Errors (`core.errors`), the plug-in `Registry`, the task shape, the metric records and the job
spec live here so that search spaces, evaluators, the store, the workers and the service speak
one vocabulary without importing each other.
"""
