"""The data behind the service dashboard and the public status page: no HTTP, no HTML.

``history``: the leader's sampler of its request metrics (rates, errors, latency quantiles over
the last hour); ``snapshot``: the state of drives, sets, workers and usage now; ``status``: the
small public subset safe to show without keys. The console renders them.
"""
