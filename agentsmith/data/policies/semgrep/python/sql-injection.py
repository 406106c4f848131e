import sqlite3


def find_user(conn: sqlite3.Connection, name: str):
    cur = conn.cursor()
    # ruleid: python-sql-built-from-strings
    cur.execute(f"SELECT * FROM users WHERE name = '{name}'")
    # ruleid: python-sql-built-from-strings
    cur.execute("SELECT * FROM users WHERE name = '%s'" % name)
    query = f"DELETE FROM users WHERE name = '{name}'"
    # ruleid: python-sql-built-from-strings
    cur.execute(query)
    # ok: python-sql-built-from-strings
    cur.execute("SELECT * FROM users WHERE name = ?", (name,))
    # ok: python-sql-built-from-strings
    print(f"looked up {name}")
    return cur.fetchall()
