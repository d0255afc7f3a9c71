"""`comments`: the comments on the REST source's posts (JSONPlaceholder's `/comments`)."""

from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import Records, RestSnapshot

COMMENTS = RestSnapshot(
    contract=Contract(
        name="comments",
        description="Comments on the REST API's posts, one row each.",
        columns=(
            Column("id", "int", False, "The source's comment id."),
            Column("post_id", "int", False, "The post commented on: `posts.id`."),
            Column("name", "string", False, "The comment's title."),
            Column("email", "string", False, "Its author's email."),
            Column("body", "string", False),
            FETCHED_AT,
        ),
        key=("id",),
        search=("name", "body"),
        indexes=(("post_id",),),
    ),
    path="/comments",
    fields={"id": "id", "post_id": "postId", "name": "name", "email": "email", "body": "body"},
    records=Records(name="name", value="email", description="body"),
)
