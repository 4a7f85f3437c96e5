"""Static website hosting: a bucket's website configuration and how its endpoint routes a request (``rules``, pure)."""
