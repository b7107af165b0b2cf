"""A Gotify server stand-in: ``POST /message`` as Gotify's API takes it (an application
token in ``X-Gotify-Key`` or ``?token=``; ``title``, ``message``, ``priority``), recording
what it receives; ``failing = True`` makes it answer 500."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, post


class GotifyStandIn:
    def __init__(self, token: str = "AppToken.123") -> None:
        self.token = token
        self.received: list[dict[str, Any]] = []
        self.failing = False

    def app(self) -> Litestar:
        @post("/message", status_code=200)
        async def message(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
            if self.failing:
                return Response({"error": "Internal Server Error"}, status_code=500)
            key = request.headers.get("x-gotify-key") or request.query_params.get("token")
            if key != self.token:
                return Response(
                    {"error": "Unauthorized", "errorCode": 401,
                     "errorDescription": "you need to provide a valid access token"},
                    status_code=401,
                )  # fmt: skip
            body = await request.json()
            self.received.append(body)
            return Response({"id": len(self.received), "appid": 1, **body})

        return Litestar(route_handlers=[message], logging_config=None)


__all__ = ["GotifyStandIn"]
