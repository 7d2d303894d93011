"""`tunesmith ui`: a web app over the same run directories, schemas, engine and commands as
the CLI (docs/ui.md). Nothing here trains, evaluates or exports by itself: it launches the
`tunesmith` commands as detached processes and reads what they write.
"""
