"""The account's own routes (what a task costs, the balance, the task history, the webhook secret).

Mixed into `WaveSpeedClient`, whose `_call` (one idempotent call, retried within its deadline)
they all go through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._config import MODEL_ID, ApiKey, model_named
from .._errors import InvalidRequest, ServerError, TaskNotFound
from .wire import api_time, history_item, usd

__all__ = ["AccountCalls"]


class AccountCalls:
    """Prices, balance, history and the webhook secret: calls of the account, not of one task."""

    async def _call(
        self,
        method: str,
        path: str,
        *,
        api_key: str | ApiKey | None,
        what: str,
        request_kwargs: Callable[[], dict[str, Any]] = dict,
        deadline: float | None = None,
        task_id: str | None = None,
        slow: bool = False,
    ) -> dict[str, Any]:
        raise NotImplementedError  # `WaveSpeedClient._call`

    async def price(
        self, request_input: dict[str, Any], *, api_key: str | ApiKey | None = None, model: str = MODEL_ID
    ) -> dict[str, Any]:
        """What one task of `model` with these inputs costs, in USD: `unit_price` is what WaveSpeed charges.

        Asks `/model/price` (WaveSpeed's newer CLI and MCP server; its `discounted_price`, when
        there is one, is the charge and `list_price` the price before it), else the documented
        `/model/pricing` (`unit_price`). The answer's other fields are kept.
        """
        body = {"model_id": model_named(model).id, "inputs": request_input}
        try:
            data = await self._ask_price("/api/v3/model/price", body, api_key)
        except (InvalidRequest, TaskNotFound, ServerError):
            data = {}
        listed, discounted = usd(data.get("price")), usd(data.get("discounted_price"))
        if listed is None and discounted is None:
            return await self._ask_price("/api/v3/model/pricing", body, api_key)
        charged = discounted if discounted is not None else listed
        return {**data, "unit_price": charged, "list_price": listed if listed is not None else charged}

    async def _ask_price(
        self, path: str, body: dict[str, Any], api_key: str | ApiKey | None
    ) -> dict[str, Any]:
        return await self._call(
            "POST", path, api_key=api_key, what="asking for the price", request_kwargs=lambda: {"json": body}
        )

    async def balance(self, *, api_key: str | ApiKey | None = None) -> dict[str, Any]:
        """The account's balance (`balance` in USD)."""
        return await self._call("GET", "/api/v3/balance", api_key=api_key, what="asking for the balance")

    async def history(
        self,
        *,
        api_key: str | ApiKey | None = None,
        created_after: float | None = None,
        page_size: int = 50,
        model: str = MODEL_ID,
    ) -> list[dict[str, Any]]:
        """The account's recent tasks of `model`, newest first (to find a lost submit).

        Inputs are asked for (`include_inputs`, as WaveSpeed's desktop app asks) but the
        documented items have none: an item's `input` is there only when WaveSpeed gave it
        (as `input` or `inputs`). `created_after` is Unix seconds, sent as `...Z`.
        """
        body: dict[str, Any] = {"page": 1, "page_size": page_size, "model": model, "include_inputs": True}
        if created_after is not None:
            body["created_after"] = api_time(created_after)
        data = await self._call(
            "POST",
            "/api/v3/predictions",
            api_key=api_key,
            what="reading the task history",
            request_kwargs=lambda: {"json": body},
        )
        items = data.get("items") or data.get("predictions") or []
        return [history_item(item) for item in items if isinstance(item, dict)]

    async def webhook_secret(self, *, api_key: str | ApiKey | None = None) -> str:
        """The account's webhook signing secret (`whsec_...`)."""
        data = await self._call(
            "GET", "/api/v3/webhook/secret", api_key=api_key, what="reading the webhook secret"
        )
        secret = data.get("secret") or data.get("webhook_secret")
        if not isinstance(secret, str) or not secret:
            raise ServerError("WaveSpeed returned no webhook secret.")
        return secret
