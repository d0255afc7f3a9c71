"""`posts`: the REST source's posts (JSONPlaceholder's `/posts`).

Its rows in `records` are mapped with the hand-written sources (`records/assets.py`): their
`value` is composed text (`user <user_id>`), not a column."""

from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import RestSnapshot

POSTS = RestSnapshot(
    contract=Contract(
        name="posts",
        description="Posts from the REST API.",
        columns=(
            Column("id", "int", False, "The source's post id."),
            Column("user_id", "int", False, "Author: `users.id`."),
            Column("title", "string", False),
            Column("body", "string", False),
            FETCHED_AT,
        ),
        key=("id",),
        search=("title", "body"),
        indexes=(("user_id",),),
    ),
    path="/posts",
    fields={"id": "id", "user_id": "userId", "title": "title", "body": "body"},
)
