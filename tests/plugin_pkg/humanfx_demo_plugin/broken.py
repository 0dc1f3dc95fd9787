"""An effect plugin module that cannot be imported: humanfx must log it and go on."""

raise RuntimeError("demo plugin is broken on purpose")
