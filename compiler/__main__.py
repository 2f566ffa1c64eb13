from compiler.cli import app

app()
