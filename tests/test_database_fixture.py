import sqlalchemy

from eventclip.db import create_db_engine


def test_database_url_is_isolated_and_writable(database_url: str) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
        conn.execute(sqlalchemy.text("INSERT INTO probe (id) VALUES (1)"))
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM probe")).scalar() == 1
    engine.dispose()
