"""Local stand-ins for services on the internet (data vendors, brokers).

Each stand-in is an ASGI app (Litestar) that replays payloads written from the vendor's
public API documentation; ``serve(app)`` runs it on a free loopback port for a test.
"""
