"""What each role sees: annotators label, outsiders see nothing, admins invite people."""

import re

from browser_helpers import login, shot
from factories import PASSWORD
from playwright.sync_api import expect

NEW_PASSWORD = "pelican wobbles sideways 42"


def test_roles_in_browser(live_server, new_context, project, admin, annotator, outsider):
    dashboard_url = f"{live_server.url}/projects/{project.id}/"

    # given an annotator of the project
    anna = new_context().new_page()
    login(anna, live_server, annotator.username, PASSWORD)

    # when she opens the project from her list
    anna.locator(".project-card", has_text=project.name).click()

    # then she sees it, but none of the admin tabs or the upload button
    expect(anna).to_have_url(dashboard_url)
    expect(anna.get_by_role("heading", level=1)).to_have_text(project.name)
    expect(anna.locator("nav.tabs a")).to_have_text(["Dashboard", "Label", "Taxonomy", "Inputs"])
    expect(anna.get_by_role("link", name="Upload images")).to_have_count(0)
    shot(anna, "roles_01_annotator_dashboard")
    # and typing the upload address is refused
    response = anna.goto(f"{dashboard_url}upload/")
    assert response.status == 403
    shot(anna, "roles_02_annotator_upload_403")

    # given someone outside the project
    oscar = new_context().new_page()
    login(oscar, live_server, outsider.username, PASSWORD)

    # then their project list does not show it and its address does not exist for them
    expect(oscar.locator("main")).to_contain_text("You are not in any project yet.")
    expect(oscar.locator("main")).not_to_contain_text(project.name)
    response = oscar.goto(dashboard_url)
    assert response.status == 404
    shot(oscar, "roles_03_outsider_404")

    # when the project's admin invites a newcomer by e-mail on the Members page
    alice = new_context().new_page()
    login(alice, live_server, admin.username, PASSWORD)
    alice.goto(dashboard_url)
    alice.get_by_role("navigation").get_by_role("link", name="Members").click()
    alice.get_by_label("Username or e-mail").fill("nora.new@example.com")
    alice.get_by_label("Role", exact=True).select_option("annotator")
    alice.get_by_role("button", name="Invite").click()

    # then she is a member and the page shows the link that lets her set a password
    expect(alice.locator(".alert.success")).to_have_text("nora.new joined as annotator.")
    expect(alice.locator("#members")).to_contain_text("nora.new@example.com")
    link = alice.locator("#invite-link")
    expect(link).to_have_text(re.compile(rf"^{re.escape(live_server.url)}/invite/[^/]+/[^/]+/$"))
    shot(alice, "roles_04_invite_link")

    # when the newcomer follows the link and chooses a password
    nora = new_context().new_page()
    nora.goto(link.inner_text())
    expect(nora.get_by_role("heading", level=1)).to_have_text("Welcome")
    # and the welcome page tells her the username the invitation gave her
    expect(nora.locator("#invite-username")).to_have_text(
        "Your username is nora.new (you may also log in with nora.new@example.com)."
    )
    nora.fill("#id_new_password1", NEW_PASSWORD)
    nora.fill("#id_new_password2", NEW_PASSWORD)
    shot(nora, "roles_05_invite_accept")
    nora.get_by_role("button", name="Set password").click()

    # then she is logged in, is told her username and finds the project in her list
    expect(nora).to_have_url(f"{live_server.url}/")
    expect(nora.locator(".alert.success")).to_contain_text("You are logged in as nora.new")
    card = nora.locator(".project-card", has_text=project.name)
    expect(card).to_be_visible()
    shot(nora, "roles_06_newcomer_projects")
    # and the card counts everyone in it: alice, anna and herself
    expect(card).to_contain_text("3 members")

    # when she comes back another day and logs in with her e-mail, typed in capitals
    later = new_context().new_page()
    login(later, live_server, "Nora.New@Example.COM", NEW_PASSWORD)

    # then she is in, as nora.new
    expect(later.locator(".project-card", has_text=project.name)).to_be_visible()
    expect(later.locator("body")).to_contain_text("nora.new")
    shot(later, "roles_07_login_by_email")
