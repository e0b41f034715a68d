"""The ``chronicle`` command (filled in by the operations work)."""
import typer

app = typer.Typer(help="Chronicle operations")


@app.command()
def version():
    print("chronicle 0.1.0")
