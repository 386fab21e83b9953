# The two commands of the README, and a few conveniences. Each target installs what it needs first.
.PHONY: demo test serve lint bench clean-demo

demo: .venv/.installed
	.venv/bin/docctl demo

test:
	bash .ci/bootstrap.sh --system
	.venv/bin/python -m pytest

serve: .venv/.installed
	.venv/bin/docctl serve

lint: .venv/.installed
	.venv/bin/ruff check docctl tests bench migrations

.venv/.installed: pyproject.toml
	bash .ci/bootstrap.sh

clean-demo:
	rm -rf storage/docctl.sqlite3* storage/blobs storage/demo-credentials.txt
