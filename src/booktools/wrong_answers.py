"""Realistic wrong answers to every exercise, each with the hint its check must give.

Keyed by the exercise's ``:label:``. For each exercise, the attempts run in the order a
learner would make them, in the chapter's kernel, just before the solution (see
``booktools.exercise_attempts``): the attempt's ``code`` (what the learner writes into the
answer cell, or does to a file), then the check cell as the chapter has it, which must
raise ``AssertionError`` with a message matching ``hint``. Every exercise has an attempt
that makes the mistake its chapter is about (the comment above each entry names it); where
the check is cheap, the first attempt is ``UNANSWERED``, the check run on the placeholder.
``tests/test_wrong_answers.py`` requires an entry for every exercise of every notebook.
An attempt's code must leave nothing behind that changes what a later cell prints;
``undo`` puts back what the attempt changed beyond the answer (a file it edited).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WrongAnswer:
    code: str
    """What the learner runs instead of the solution ("" runs the check on the exercise's placeholder)."""
    hint: str
    """A regular expression the check's ``AssertionError`` message must match (``re.search``)."""
    raises: str | None = None
    """The exception the attempt itself raises in its cell (the learner then runs the check anyway)."""
    undo: str | None = None
    """Run after the check: restores what the attempt changed besides the answer's names."""


def _predictions(name: str, values: dict[str, object]) -> str:
    lines = "".join(f"    {key!r}: {value!r},\n" for key, value in values.items())
    return f"{name} = {{\n{lines}}}\n"


UNANSWERED = WrongAnswer("", hint=r"^Not yet: ")
"""The learner runs the check before writing anything: the exercise's placeholder as it is."""

_GENERATED_ENGINE = '''\
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
'''

WRONG_ANSWERS: dict[str, tuple[WrongAnswer, ...]] = {
    # 01: every command that reads revisions must connect, like `current`.
    "ex-reproduce-which-commands": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {"alembic history": True, "alembic history -i": True, "alembic current": True}),
            hint=r"Not quite: 1 of your 3 predictions differ.*revision the database is at, or only the files",
        ),
    ),
    # 02: render_as_string() taken for the way to get the real password back.
    "ex-hidden-password-which-strings": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "str(url)": False, "repr(url)": False, "f'{url}'": False,
                "url.render_as_string()": True, "url.render_as_string(hide_password=False)": True,
            }),
            hint=r"Not quite: 1 of your 5 predictions differ",
        ),
    ),
    # 03: a bare postgresql:// still taken for psycopg2, as on SQLAlchemy 2.0.
    "ex-sync-driver-which-driver": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "postgresql://": ("psycopg2", False), "postgresql+psycopg2://": ("psycopg2", False),
                "postgresql+psycopg://": ("psycopg", True), "postgresql+asyncpg://": ("asyncpg", True),
            }),
            hint=r"Not quite: 2 of your 4 pairs differ.*Which driver does a URL without one get on 2\.1",
        ),
    ),
    # 04: the check run before editing env.py; then the app's engine wired and the models forgotten;
    # then the models wired and the URL passed through ConfigParser (chapter 9's trap); then that
    # URL escaped, a second engine still.
    "ex-async-env-py-wire": (
        WrongAnswer("", hint=r"`alembic revision` failed with your env\.py.*placeholder URL"),
        WrongAnswer(
            '_generated = project.read("migrations/env.py")\n'
            f'project.write("migrations/env.py", _generated.replace({_GENERATED_ENGINE!r}, '
            '"    from app import async_engine\\n\\n    connectable = async_engine\\n"))\n',
            hint=r"`alembic revision` failed with your env\.py.*Autogenerate does not see the application's tables",
            undo='project.write("migrations/env.py", _generated)\n',
        ),
        # The models wired, and the application's URL handed to the template's engine through
        # ConfigParser: right for the book's plain password, wrong for one with a `%` in it.
        WrongAnswer(
            '_generated = project.read("migrations/env.py")\n'
            'project.write("migrations/env.py", _generated.replace("target_metadata = None\\n", '
            '"import os\\nfrom app import Base\\n\\ntarget_metadata = Base.metadata\\n'
            'config.set_main_option(\\"sqlalchemy.url\\", os.environ[\\"APP_DATABASE_URL\\"])\\n"))\n',
            hint=r"`alembic revision` failed with your env\.py.*invalid interpolation.*needs each `%` doubled",
            undo='project.write("migrations/env.py", _generated)\n',
        ),
        # That hint followed: each `%` doubled, the template's second engine kept. It connects,
        # with the URL's password but without the application engine's connection settings.
        WrongAnswer(
            '_generated = project.read("migrations/env.py")\n'
            'project.write("migrations/env.py", _generated.replace("target_metadata = None\\n", '
            '"from app import Base, async_engine\\n\\ntarget_metadata = Base.metadata\\n'
            'config.set_main_option(\\"sqlalchemy.url\\", '
            'async_engine.url.render_as_string(hide_password=False).replace(\\"%\\", \\"%%\\"))\\n"))\n',
            hint=r"`alembic upgrade` put `users` in public, not in app_schema.*which engine should env\.py",
            undo='project.write("migrations/env.py", _generated)\n',
        ),
    ),
    # 04: inspect() called on the AsyncConnection itself, then run_sync without await.
    "ex-async-env-py-columns": (
        WrongAnswer(
            "async with engine.connect() as connection:\n"
            '    columns = sorted(column["name"] for column in inspect(connection).get_columns("users"))\n',
            hint=r"Not yet: `columns` is still None",
            raises="NoInspectionAvailable",
        ),
        WrongAnswer(
            "async with engine.connect() as connection:\n"
            '    columns = connection.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("users")])\n',
            hint=r"`columns` holds coroutine object.*without `await`",
            undo="columns.close()\n",
        ),
    ),
    # 05: a bare postgresql:// taken for psycopg2, which has no asyncio side.
    "ex-psycopg3-async-urls": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "postgresql": False, "postgresql+psycopg": True,
                "postgresql+psycopg2": False, "postgresql+asyncpg": True,
            }),
            hint=r"Not quite: 1 of your 4 predictions differ.*which driver does it name on 2\.1",
        ),
    ),
    # 06: script_location taken to be in alembic.ini still, as with the other templates.
    "ex-async-template-pyproject": (
        WrongAnswer(
            _predictions("prediction", {
                "its env.py is the async template's env.py": True,
                "pyproject.toml sets script_location": True,
                "alembic.ini sets script_location": True,
                "alembic.ini sets sqlalchemy.url": True,
            }),
            hint=r"Not quite",
        ),
    ),
    # 07: the synchronous function called directly, then greenlet_spawn without await.
    "ex-why-greenlet-spawn": (
        WrongAnswer(
            "def select_one() -> int:\n"
            "    with engine.connect() as connection:\n"
            '        return connection.scalar(text("SELECT 1"))\n'
            "\n\nanswer = select_one()\n",
            hint=r"Not yet: `answer` is still Ellipsis",
            raises="MissingGreenlet",
        ),
        WrongAnswer(
            "answer = greenlet_spawn(select_one)\n",
            hint=r"`answer` holds coroutine object.*without `await`",
            undo="answer.close()\n",
        ),
    ),
    # 08: connection sharing taken to work with the plain async env.py.
    "ex-event-loop-which-calls": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "command.upgrade(cfg, 'head')": False,
                "await asyncio.to_thread(command.upgrade, cfg, 'head')": True,
                "await connection.run_sync(run_upgrade, cfg)": True,
            }),
            hint=r"Not quite: 1 of your 3 predictions differ.*does the async variant look at cfg\.attributes",
        ),
    ),
    # 09: the URL passed as is; then the password decoded instead of escaped.
    "ex-percent-config-safe": (
        UNANSWERED,
        WrongAnswer(
            "def config_safe(url: str) -> str:\n    return url\n",
            hint=r"set_main_option refused your value \(ValueError\)",
        ),
        WrongAnswer(
            "from urllib.parse import unquote\n\n\ndef config_safe(url: str) -> str:\n"
            '    return unquote(url).replace("%", "%%")\n',
            hint=r"Not quite: get_main_option gave back another URL than `encoded`",
        ),
    ),
    # 10: the lazy relationship read outside any await.
    "ex-orm-lazy-loading-order-emails": (
        UNANSWERED,
        WrongAnswer(
            "async def order_emails(session):\n"
            "    orders = await session.scalars(select(app.Order))\n"
            "    return sorted(order.customer.email for order in orders)\n",
            hint=r"lazy load, which raised MissingGreenlet",
        ),
        # The chapter's awaitable_attrs, on Order, which does not mix in AsyncAttrs.
        WrongAnswer(
            "async def order_emails(session):\n"
            "    orders = await session.scalars(select(app.Order))\n"
            "    return sorted([(await order.awaitable_attrs.customer).email for order in orders])\n",
            hint=r"no attribute 'awaitable_attrs'.*Only a model that mixes in AsyncAttrs",
        ),
    ),
    # 11: offline mode taken to need a connection, like online.
    "ex-offline-mode-broken-env": (
        WrongAnswer(
            _predictions("prediction", {"alembic upgrade head --sql": False, "alembic upgrade head": False}),
            hint=r"Not quite: 1 of your 2 predictions differ.*which branch of env\.py runs",
        ),
    ),
    # 12: alembic check taken to check only that the migrations run.
    "ex-testing-migrations-drift": (
        WrongAnswer("check_passes = True\n", hint=r"Not quite\. `alembic check` runs autogenerate"),
    ),
    # 13: an empty MetaData taken to give an empty migration whatever the database holds.
    "ex-empty-autogenerate-drop": (
        WrongAnswer('expected_operation = "pass"\n', hint=r"Not quite\. Autogenerate makes the database match"),
    ),
    # 14: the stock sync env.py taken to work with any driver, as it does with psycopg.
    "ex-sqlite-aiosqlite-variants": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {"psycopg3": True, "connection-sharing": True}),
            hint=r"Not quite: 1 of your 2 predictions differ.*synchronous or an async engine",
        ),
    ),
    # 15: SQLite's default driver taken to have changed along with PostgreSQL's.
    "ex-sqlalchemy-20-vs-21-default-sqlite": (
        WrongAnswer(
            _predictions("prediction", {"2.0": "pysqlite", "2.1": "aiosqlite"}),
            hint=r"Not quite: 1 of your 2 predictions differ.*Which database's default driver",
        ),
    ),
    # 16: the columns read after commit() (it commits, then fails); then read before commit()
    # without a flush, so updated_at is the old value: right only if the database already said paid.
    "ex-after-commit-mark-paid": (
        UNANSWERED,
        WrongAnswer(
            "async def mark_paid(session, email):\n"
            "    order = await session.scalar(select(app.Order).where(app.Order.customer.has(email=email)))\n"
            "    order.status = app.OrderStatus.paid\n"
            "    await session.commit()\n"
            "    return order.status, order.updated_at\n",
            hint=r"a read after commit\(\) went to the database outside an await",
        ),
        WrongAnswer(
            "async def mark_paid(session, email):\n"
            "    order = await session.scalar(select(app.Order).where(app.Order.customer.has(email=email)))\n"
            "    order.status = app.OrderStatus.paid\n"
            "    read = (order.status, order.updated_at)\n"
            "    await session.commit()\n"
            "    return read\n",
            hint=r"Not quite: got .*as the database has them after your commit",
        ),
        # awaitable_attrs (chapter 10) on a model without AsyncAttrs.
        WrongAnswer(
            "async def mark_paid(session, email):\n"
            "    order = await session.scalar(select(app.Order).where(app.Order.customer.has(email=email)))\n"
            "    order.status = app.OrderStatus.paid\n"
            "    await session.commit()\n"
            "    return await order.awaitable_attrs.status, await order.awaitable_attrs.updated_at\n",
            hint=r"no attribute 'awaitable_attrs'.*Only a model that mixes in AsyncAttrs",
        ),
    ),
    # 17: the statement without a loader option: validation reads the lazy `orders`.
    "ex-fastapi-customer-query": (
        UNANSWERED,
        WrongAnswer(
            "def customer_query(customer_id):\n"
            "    return select(app.Customer).where(app.Customer.id == customer_id)\n",
            hint=r"Not quite: validation read `orders`.*What would load it in the query",
        ),
    ),
    # 18: the pool disposed of once, at the end of the session, instead of after each test.
    "ex-async-tests-loop-per-test": (
        WrongAnswer(
            "conftest_py = '''\\\n"
            "import pytest\n\nfrom app import async_engine\n\n\n"
            '@pytest.fixture(autouse=True, scope="session")\n'
            "def dispose_engine():\n"
            "    yield\n"
            "    async_engine.sync_engine.dispose()\n"
            "'''\n",
            hint=r"Some connection still outlives the loop of the test that opened it",
        ),
    ),
    # 19: one session shared by the tasks, as in the chapter's first cell (an error, or, depending
    # on timing, right counts); then the same once the session holds its connection (right counts,
    # as the chapter shows); then one session and no concurrency.
    "ex-concurrent-sessions-order-counts": (
        UNANSWERED,
        WrongAnswer(
            "async def order_counts(customer_ids):\n"
            "    async with Session() as session:\n"
            "        return list(await asyncio.gather(*(count_orders(session, customer_id) "
            "for customer_id in customer_ids)))\n",
            hint=r"Did several tasks share one session\?|4 queries running at once shared 1 session\(s\)",
        ),
        WrongAnswer(
            "async def order_counts(customer_ids):\n"
            "    async with Session() as session:\n"
            "        await session.connection()\n"
            "        return list(await asyncio.gather(*(count_orders(session, customer_id) "
            "for customer_id in customer_ids)))\n",
            hint=r"4 queries running at once shared 1 session\(s\)|Did several tasks share one session\?",
        ),
        WrongAnswer(
            "async def order_counts(customer_ids):\n"
            "    async with Session() as session:\n"
            "        return [await count_orders(session, customer_id) for customer_id in customer_ids]\n",
            hint=r"the queries ran one after the other",
        ),
    ),
    # 20: the password URL-encoded but not escaped for ConfigParser; then escaped but not encoded.
    "ex-fix-your-project-ini": (
        UNANSWERED,
        WrongAnswer('in_alembic_ini = "s3cr%25t%40db"\n',
                    hint=r"read that back as \w*Error\. Encode the password for the URL first"),
        WrongAnswer('in_alembic_ini = "s3cr%%t@db"\n', hint=r"read that back as the password '[^']*' and the host"),
    ),
    # 21: the second replica taken to run the migrations again once it has the lock.
    "ex-production-advisory-lock": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "it exited with status 0": True, "it ran the 0002 migration": True,
                "it printed a line from 0002's upgrade()": True,
            }),
            hint=r"Not quite: 2 of your predictions differ.*before or after it gets the lock",
        ),
    ),
    # 22: libpq's parameter names taken to work on an asyncpg URL.
    "ex-asyncpg-url-options": (
        UNANSWERED,
        WrongAnswer(
            _predictions("prediction", {
                "?ssl=disable": True, "?sslmode=disable": True,
                "?target_session_attrs=read-write": True, "?connect_timeout=5": True,
            }),
            hint=r"Not quite: 2 of your predictions differ.*asyncpg's or libpq's",
        ),
    ),
    # 23: stamp and upgrade swapped: "stamp" taken for the way to bring a database up to date.
    "ex-team-workflow-fix": (
        UNANSWERED,
        WrongAnswer(
            _predictions("answer", {
                "Multiple head revisions are present": "alembic merge heads",
                "Target database is not up to date": "alembic stamp --purge",
                "Can't locate revision identified by": "alembic upgrade head",
            }),
            hint=r"Not quite: 2 of your answers differ",
        ),
    ),
    # 24: the driver taken for the cost, as the chapter's question suggests.
    "ex-async-env-py-slower-what-helps": (
        WrongAnswer('prediction = "sync env.py"\n', hint=r"Not quite: compare the table's columns again"),
    ),
    # 25: the URL written as a string with the raw password; then the password encoded for URL.create.
    "ex-patch-real-projects-url": (
        UNANSWERED,
        WrongAnswer(
            'service_url = "postgresql+asyncpg://billing:50%@off:now@db.internal:5432/billing"\n',
            hint=r"Read back, that URL's parts are .*Pass each part to URL\.create",
        ),
        WrongAnswer(
            "from sqlalchemy import URL\n\n"
            "service_url = URL.create(\n"
            '    "postgresql+asyncpg", username="billing", password=quote("50%@off:now", safe=""),\n'
            '    host="db.internal", port=5432, database="billing",\n'
            ")\n",
            hint=r"Read back, that URL's parts are .*'50%25%40off%3Anow'",
        ),
    ),
    # 26: the first many-to-one loaded, the second (Post.author) left lazy.
    "ex-library-serialization-comments": (
        UNANSWERED,
        WrongAnswer(
            "def comments_page():\n"
            "    return select(app.Comment).order_by(app.Comment.id).options(joinedload(app.Comment.post))\n",
            hint=r"Not quite: reading `.*author.*` was a lazy load",
        ),
    ),
    # 27: "commit, refresh, return", the chapter's broken create endpoint; then refresh() naming
    # `posts`, which loads the posts but not their comments.
    "ex-sqlmodel-create-and-return": (
        UNANSWERED,
        WrongAnswer(
            "async def create_author(session, name, titles):\n"
            "    author = models.Author(name=name, posts=[models.Post(title=title) for title in titles])\n"
            "    session.add(author)\n"
            "    await session.commit()\n"
            "    await session.refresh(author)\n"
            "    return author\n",
            hint=r"Not quite: validating the author read `posts.*` without loading it",
        ),
        WrongAnswer(
            "async def create_author(session, name, titles):\n"
            "    author = models.Author(name=name, posts=[models.Post(title=title) for title in titles])\n"
            "    session.add(author)\n"
            "    await session.commit()\n"
            '    await session.refresh(author, ["posts"])\n'
            "    return author\n",
            hint=r"Not quite: validating the author read `.*posts\.0\.comments.*` without loading it",
        ),
    ),
}
