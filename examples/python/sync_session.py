"""The same API without asyncio: SyncSessionContext."""

from _common import session_name
from dspy_bridge import SyncSessionContext

with SyncSessionContext(session_name("sync")) as session:
    session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    session.set_variable("temperature", 0.9)
    print("temperature:", session.get_variable("temperature"))
    watch = session.watch_variable("temperature", include_initial=False)
    watch.ready()
    session.update_variables({"temperature": 1.1})
    update = watch.get(timeout=5)
    print("watched:", update.old_value, "->", update.value, "at revision", update.revision)
    watch.close()
    try:
        session.set_variable("temperature", 3.0)
    except ValueError as err:
        print("refused:", err)
    print("history:", [h["value"] for h in session.get_variable_history("temperature")])
print("OK")
