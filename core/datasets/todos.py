"""`todos`: the REST source's to-do items (JSONPlaceholder's `/todos`)."""

from core.contracts.datasets import FETCHED_AT
from core.contracts.schema import Column, Contract
from core.datasets import Records, RestSnapshot

TODOS = RestSnapshot(
    contract=Contract(
        name="todos",
        description="To-do items from the REST API, one row each.",
        columns=(
            Column("id", "int", False, "The source's to-do id."),
            Column("user_id", "int", False, "Owner: `users.id`."),
            Column("title", "string", False),
            Column("completed", "bool", False, "Whether the item is done."),
            FETCHED_AT,
        ),
        key=("id",),
        search=("title",),
        indexes=(("user_id",),),
    ),
    path="/todos",
    fields={"id": "id", "user_id": "userId", "title": "title", "completed": "completed"},
    records=Records(name="title", value="completed"),
)
