"""Refusals as HTTP answers: the rules say what went wrong (`code`), the edge says which status."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hub import rules

STATUS: dict[type[rules.HubError], int] = {
    rules.Unauthenticated: 401,
    rules.Forbidden: 403,
    rules.WrongStore: 403,
    rules.Unknown: 404,
    rules.Gap: 409,
    rules.Divergence: 409,
    rules.NotEnough: 409,
    rules.Blocked: 409,
    rules.Conflict: 409,
    rules.KeyReused: 409,  # the key's first use is the conflicting state
    rules.BadRequest: 422,
    rules.Busy: 503,
}


def status_of(err: rules.HubError) -> int:
    """The HTTP status for a refusal: its class's, or its nearest ancestor's; 400 for any other."""
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def refusal(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": {"code": code, "message": message, **extra}}, status_code=status)


def describe_invalid(err: RequestValidationError) -> str:
    """A malformed request's problems in one sentence, the first five named."""
    problems = []
    for e in err.errors()[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        problems.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(err.errors()) - 5} more)" if len(err.errors()) > 5 else ""
    return "The request is malformed: " + "; ".join(problems) + more + "."


# What each route may answer besides success, for the OpenAPI document (a status the
# document does not list is a bug the API fuzz test looks for).
UNAUTHENTICATED = {401: {"description": "no token, or a token unknown or revoked (checked before anything else)"}}
BUSY = {503: {"description": "the hub is too busy to finish this now; try again"}}
TOO_LARGE = {413: {"description": "the body is too large"}}
MALFORMED = {422: {"description": "malformed request: a parameter or the body breaks the schema"}}
