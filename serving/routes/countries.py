"""`/countries` and `/countries/{code}`: the GraphQL snapshot, partitioned by continent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from core.contracts import CONTRACTS
from core.sql import quote
from serving.core.errors import ERROR_RESPONSES, ErrorEnvelope
from serving.deps import Context
from serving.list_endpoints import ListRoutes
from serving.listing import Listing
from serving.params import LIST, SEARCH, Param
from serving.query import Condition, Filter, check_text, parse_filter
from serving.schemas import row_model

router = APIRouter(tags=["countries"], responses=ERROR_RESPONSES)
lists = ListRoutes(tags=["countries"], responses=ERROR_RESPONSES)
COUNTRIES = CONTRACTS["countries"]


PARAMS = (
    *LIST,
    SEARCH,
    Param("continent", "str", "Continent code (`EU`) or name (`Europe`).", max_length=64),
    Param("currency", "str", "ISO 4217 code, e.g. `EUR`.", max_length=16),
    Param("language", "str", "Language code (`de`) or name (`German`).", max_length=64),
)


@lists.route("/countries", COUNTRIES, PARAMS, summary="List countries")
def list_countries(q: dict[str, Any], ctx: Context) -> list[Filter | Condition]:
    """Countries, by continent and code; `search` covers name, native name and capital."""
    out: list[Filter | Condition] = []
    db = ctx.db
    if (continent := q.get("continent")) is not None:
        value = check_text(continent.strip(), "continent")
        if len(value) == 2:
            out.append(parse_filter(COUNTRIES, "continent_code", value.upper()))
        else:
            out.append(Condition(db.equals_ignoring_case(quote("continent_name")), (value,)))
    if (currency := q.get("currency")) is not None:
        value = check_text(currency.strip().upper(), "currency")
        out.append(Condition(db.currency_token(quote("currency")), (value,)))
    if (language := q.get("language")) is not None:
        value = check_text(language.strip(), "language")
        out.append(Condition(db.json_array_has(quote("languages")), (value, value)))
    return out


@router.get(
    "/countries/{code}",
    response_model=row_model("countries"),
    summary="One country by ISO code",
    responses={404: {"model": ErrorEnvelope, "description": "No such country."}},
)
async def get_country(
    request: Request,
    code: Annotated[str, Path(max_length=8, description="ISO 3166-1 alpha-2, any case.")],
) -> Response:
    listing = Listing(
        request,
        request.app.state.ctx,
        COUNTRIES,
        filters=[parse_filter(COUNTRIES, "code", code.strip().upper())],
    )
    return await listing.one(f"country with code {code!r}")
