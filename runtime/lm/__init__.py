"""The LM layer: the LM base class, its HTTP and litellm clients, retries, circuit breaker,
rate limit, response cache, fallbacks and the factory that makes an LM from a model name.
"""
