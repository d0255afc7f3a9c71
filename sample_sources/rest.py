"""JSONPlaceholder-shaped REST data and routes (``/users``, ``/posts``, ``/todos``,
``/comments``).

All data is generated once at import time from a fixed seed, so every process serves
byte-identical users, posts, todos and comments; nothing random happens at request time. As on
JSONPlaceholder: 10 users, 10 posts and 20 todos each, 5 comments per post.

Routes follow json-server conventions:

* ``GET /users``, ``GET /users/{id}``, ``GET /users/{id}/posts``, ``GET /users/{id}/todos``
* ``GET /posts``, ``GET /posts/{id}``, ``GET /posts/{id}/comments``; ``GET /todos``,
  ``GET /todos/{id}``; ``GET /comments``, ``GET /comments/{id}``
* ``?userId=`` filters posts and todos, ``?postId=`` comments (repeatable: ``?userId=1&userId=2``)
* pagination on list routes: ``_start``/``_end``, ``_start``/``_limit``, ``_limit`` alone, or
  ``_page``/``_limit`` (``_limit`` defaults to 10 with ``_page``; a ``Link`` header is added).
  List responses always carry ``X-Total-Count`` (the count before pagination).
  Out-of-range pages return ``[]``; malformed values give HTTP 400 ``{"error": ...}``.
* an unknown id gives HTTP 404 ``{"error": ...}``.
"""

from __future__ import annotations

import random
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

SEED = 20240301
USER_COUNT = 10
POSTS_PER_USER = 10
TODOS_PER_USER = 20
COMMENTS_PER_POST = 5

# fmt: off
_FIRST_NAMES = [
    "Leanne", "Ervin", "Clementine", "Patricia", "Chelsey", "Dennis", "Kurtis", "Nicholas",
    "Glenna", "Clementina", "Marcus", "Ingrid", "Tobias", "Yara", "Felix", "Amara",
]
_LAST_NAMES = [
    "Graham", "Howell", "Bauch", "Lebsack", "Dietrich", "Schulist", "Weissnat", "Runolfsdottir",
    "Reichert", "DuBuque", "Okafor", "Lindqvist", "Moreau", "Haddad", "Kowalski", "Tanaka",
]
_STREET_WORDS = [
    "Kulas", "Victor", "Douglas", "Hoeger", "Skiles", "Norberto", "Rex", "Ellsworth", "Dayna",
    "Kattie", "Linden", "Harbor", "Maple", "Juniper",
]
_STREET_SUFFIXES = ["Light", "Plains", "Extension", "Mall", "Walks", "Crossing", "Trail", "Way"]
_CITIES = [
    "Gwenborough", "Wisokyburgh", "McKenziehaven", "South Elvis", "Roscoeview", "South Christy",
    "Howemouth", "Aliyaview", "Bartholomebury", "Lebsackbury",
]
_TLDS = ["org", "net", "info", "biz", "com", "io", "name"]
_COMPANY_WORDS = [
    "Romaguera", "Crona", "Deckow", "Keebler", "Robel", "Corkery", "Jacobson", "Abernathy", "Hintz",
    "Yost", "Considine", "Lockman", "Johns", "Hettinger", "Kihn", "Schumm",
]
_CATCH_ADJECTIVES = [
    "Multi-layered", "Proactive", "Face to face", "Synchronised", "Configurable", "Implemented",
    "Switchable", "Centralized", "Cross-platform", "User-centric",
]
_CATCH_NOUNS = [
    "client-server neural-net", "didactic contingency", "bifurcated interface",
    "zero tolerance moratorium", "multimedia system engine", "secondary attitude",
    "global service-desk", "encompassing projection", "fresh-thinking hub", "value-added leverage",
]
_BS_VERBS = ["harness", "synergize", "e-enable", "transition", "revolutionize", "aggregate"]
_BS_ADJECTIVES = ["real-time", "scalable", "end-to-end", "B2C", "cutting-edge", "viral"]
_BS_NOUNS = ["e-markets", "supply-chains", "e-business", "models", "paradigms", "channels"]
# fmt: on
_LOREM_TEXT = (
    "sunt aut facere repellat provident occaecati excepturi optio reprehenderit quia et suscipit "
    "recusandae consequuntur expedita nostrum rerum est autem sunt rem eveniet architecto qui "
    "est esse tempore vitae sequi sint nihil reprehenderit dolor beatae ea dolores neque fugiat "
    "blanditiis voluptate porro vel nihil molestiae ut reiciendis dolorem eum magni eos aperiam "
    "quia ullam et saepe reiciendis voluptatem adipisci sit amet autem assumenda provident"
)
_LOREM = _LOREM_TEXT.split(" ")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_LOREM) for _ in range(rng.randint(low, high)))


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))


def _phone(rng: random.Random) -> str:
    return f"1-{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 4)} x{_digits(rng, 5)}"


def _build_users(rng: random.Random) -> list[dict[str, Any]]:
    firsts = rng.sample(_FIRST_NAMES, USER_COUNT)
    lasts = rng.sample(_LAST_NAMES, USER_COUNT)
    companies = rng.sample(_COMPANY_WORDS, USER_COUNT)
    users: list[dict[str, Any]] = []
    for index, (first, last, company) in enumerate(
        zip(firsts, lasts, companies, strict=True), start=1
    ):
        domain = f"{last.lower()}.{rng.choice(_TLDS)}"
        users.append(
            {
                "id": index,
                "name": f"{first} {last}",
                "username": f"{first}.{last[0]}{rng.randint(10, 99)}",
                "email": f"{first}.{last}@{domain}".lower(),
                "address": {
                    "street": f"{rng.choice(_STREET_WORDS)} {rng.choice(_STREET_SUFFIXES)}",
                    "suite": f"{rng.choice(['Apt.', 'Suite'])} {rng.randint(100, 999)}",
                    "city": rng.choice(_CITIES),
                    "zipcode": f"{_digits(rng, 5)}-{_digits(rng, 4)}",
                    "geo": {
                        "lat": f"{rng.uniform(-80, 80):.4f}",
                        "lng": f"{rng.uniform(-180, 180):.4f}",
                    },
                },
                "phone": _phone(rng),
                "website": f"{first.lower()}{last.lower()}.{rng.choice(_TLDS)}",
                "company": {
                    "name": f"{company}-{rng.choice(_COMPANY_WORDS)}",
                    "catchPhrase": f"{rng.choice(_CATCH_ADJECTIVES)} {rng.choice(_CATCH_NOUNS)}",
                    "bs": " ".join(
                        rng.choice(words) for words in (_BS_VERBS, _BS_ADJECTIVES, _BS_NOUNS)
                    ),
                },
            }
        )
    return users


def _build_posts(rng: random.Random) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    for user_id in range(1, USER_COUNT + 1):
        for _ in range(POSTS_PER_USER):
            body = "\n".join(_sentence(rng, 6, 12) for _ in range(rng.randint(3, 4)))
            posts.append(
                {
                    "userId": user_id,
                    "id": len(posts) + 1,
                    "title": _sentence(rng, 3, 8),
                    "body": body,
                }
            )
    return posts


def _build_todos(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "userId": user_id,
            "id": (user_id - 1) * TODOS_PER_USER + index,
            "title": _sentence(rng, 3, 8),
            "completed": rng.random() < 0.5,
        }
        for user_id in range(1, USER_COUNT + 1)
        for index in range(1, TODOS_PER_USER + 1)
    ]


def _build_comments(rng: random.Random, posts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    comments: list[dict[str, Any]] = []
    for post in posts:
        for _ in range(COMMENTS_PER_POST):
            domain = f"{rng.choice(_LAST_NAMES).lower()}.{rng.choice(_TLDS)}"
            comments.append(
                {
                    "postId": post["id"],
                    "id": len(comments) + 1,
                    "name": _sentence(rng, 4, 9),
                    "email": f"{rng.choice(_FIRST_NAMES)}@{domain}",
                    "body": "\n".join(_sentence(rng, 6, 12) for _ in range(rng.randint(2, 4))),
                }
            )
    return comments


def _build() -> tuple[list[dict[str, Any]], ...]:
    # One generator in a fixed order: users and posts come out as before todos and comments.
    rng = random.Random(SEED)
    users, posts = _build_users(rng), _build_posts(rng)
    return users, posts, _build_todos(rng), _build_comments(rng, posts)


USERS, POSTS, TODOS, COMMENTS = _build()


class BadRequest(ValueError):
    """A query parameter could not be interpreted (answered with HTTP 400)."""


def _int_param(request: Request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}, got {value}")
    return value


def paginate(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    """Apply json-server pagination to ``items`` and build the list response.

    Raises:
        BadRequest: if a pagination parameter is not a valid integer in range.
    """
    page = _int_param(request, "_page", 1)
    limit = _int_param(request, "_limit", 0)
    start = _int_param(request, "_start", 0)
    end = _int_param(request, "_end", 0)
    total = len(items)
    headers = {"X-Total-Count": str(total)}
    if page is not None:
        limit = 10 if limit is None else limit
        selected = items[(page - 1) * limit : page * limit] if limit else []
        if limit:
            last = max(1, -(-total // limit))
            base = str(request.url.remove_query_params(["_page"]))
            sep = "&" if "?" in base else "?"
            links = {"first": 1, "last": last}
            if page > 1:
                links["prev"] = page - 1
            if page < last:
                links["next"] = page + 1
            headers["Link"] = ", ".join(
                f'<{base}{sep}_page={number}>; rel="{rel}"' for rel, number in links.items()
            )
    elif end is not None:
        selected = items[start or 0 : end]
    elif limit is not None:
        offset = start or 0
        selected = items[offset : offset + limit]
    elif start is not None:
        selected = items[start:]
    else:
        selected = items
    return JSONResponse(selected, headers=headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _by_id(items: list[dict[str, Any]], raw_id: str) -> dict[str, Any] | None:
    try:
        wanted = int(raw_id)
    except ValueError:
        return None
    return next((item for item in items if item["id"] == wanted), None)


def _ids(request: Request, name: str) -> set[int] | None:
    """The ids a repeatable filter such as ``?userId=1&userId=2`` asks for (None: no filter)."""
    raw_values = request.query_params.getlist(name)
    if not raw_values:
        return None
    try:
        return {int(value) for value in raw_values}
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw_values!r}") from None


def _add_collection(
    router: APIRouter, name: str, singular: str, items: list[dict[str, Any]], by: str | None
) -> None:
    """``GET /<name>`` (filtered by ``?<by>=`` when given) and ``GET /<name>/{id}``."""

    @router.get(f"/{name}", name=f"list_{name}")
    def list_items(request: Request) -> JSONResponse:
        try:
            ids = _ids(request, by) if by else None
            return paginate(request, items if ids is None else [i for i in items if i[by] in ids])
        except BadRequest as exc:
            return _error(400, str(exc))

    @router.get(f"/{name}/{{item_id}}", name=f"get_{singular}")
    def get_item(item_id: str) -> JSONResponse:
        item = _by_id(items, item_id)
        return JSONResponse(item) if item else _error(404, f"{singular} {item_id} not found")


def _add_children(
    router: APIRouter,
    parent: tuple[str, str, list[dict[str, Any]]],
    name: str,
    items: list[dict[str, Any]],
    by: str,
) -> None:
    """``GET /<parents>/{id}/<name>``: the items whose ``by`` is that parent's id."""
    parents, singular, rows = parent

    @router.get(f"/{parents}/{{parent_id}}/{name}", name=f"list_{singular}_{name}")
    def list_children(parent_id: str, request: Request) -> JSONResponse:
        found = _by_id(rows, parent_id)
        if found is None:
            return _error(404, f"{singular} {parent_id} not found")
        try:
            return paginate(request, [i for i in items if i[by] == found["id"]])
        except BadRequest as exc:
            return _error(400, str(exc))


def create_router() -> APIRouter:
    """Build the REST routes (mount without a prefix to get ``/users``, ``/posts``, ...)."""
    router = APIRouter(tags=["rest"])
    users, posts = ("users", "user", USERS), ("posts", "post", POSTS)
    _add_collection(router, "users", "user", USERS, None)
    _add_collection(router, "posts", "post", POSTS, "userId")
    _add_collection(router, "todos", "todo", TODOS, "userId")
    _add_collection(router, "comments", "comment", COMMENTS, "postId")
    _add_children(router, users, "posts", POSTS, "userId")
    _add_children(router, users, "todos", TODOS, "userId")
    _add_children(router, posts, "comments", COMMENTS, "postId")
    return router
