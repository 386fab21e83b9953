from tests.web.conftest import login


def test_login_dashboard_logout(any_env):
    any_env.user("alice", "author")
    client = login(any_env.client(), "alice")
    page = client.get("/")
    assert page.status_code == 200
    assert "Alice Tester" in page.text
