"""A reviewer of a tier the project does not have is warned about on the Members page and in
their empty queue; review settings grey out the tiers above the count, live."""

from browser_helpers import login, shot
from factories import PASSWORD, UserFactory
from playwright.sync_api import expect

from labeling.models import ReviewTier
from labeling.review_rules import TierRule
from labeling.services.review import tier_rules


def test_a_tier_the_project_lacks_is_explained_and_set_up_in_review_settings(
    live_server, new_context, project, admin
):
    # given a new project (no review tiers) and someone to invite
    rita = UserFactory(username="rita_reviewer")
    members_url = f"{live_server.url}/projects/{project.id}/members/"

    # when the admin invites her as a tier-1 reviewer on the Members page
    alice = new_context().new_page()
    login(alice, live_server, admin.username, PASSWORD)
    alice.goto(members_url)
    alice.get_by_label("Username or e-mail").fill(rita.username)
    alice.get_by_label("Role", exact=True).select_option("reviewer")
    alice.locator("form.stacked input[name=review_tier]").fill("1")
    alice.get_by_role("button", name="Invite").click()

    # then the page warns that tier-1 reviews do not happen yet, and links to review settings
    expect(alice.locator("#invite-tier-warning")).to_contain_text(
        "reviews of tier 1 do not happen until the project has 1 tier (it has 0)"
    )
    row = alice.locator("#members tr", has_text="rita_reviewer")
    expect(row.locator(".tier-warning")).to_contain_text(
        "Reviews of tier 1 do not happen until the project has 1 tier (it has 0)."
    )
    shot(alice, "review_tiers_01_members_warning")

    # and her empty queue says why it is empty
    rita_page = new_context().new_page()
    login(rita_page, live_server, rita.username, PASSWORD)
    rita_page.goto(f"{live_server.url}/projects/{project.id}/review/")
    expect(rita_page.locator("#review-empty-why")).to_contain_text(
        "This project has no tier 1 (it has 0 review tiers)"
    )
    expect(rita_page.locator("#review-empty")).not_to_contain_text("as annotators submit them")
    shot(rita_page, "review_tiers_02_empty_queue_why")

    # when the admin follows the link to review settings
    alice.locator("#invite-tier-warning").get_by_role("link").click()

    # then every tier's fields are greyed out and disabled while the count is 0
    for n in (1, 2, 3):
        expect(alice.get_by_label(f"What tier {n} reviews")).to_be_disabled()
        expect(alice.get_by_label(f"Sample rate of tier {n}")).to_be_disabled()
    assert float(alice.locator("#tier-rule-1").evaluate("e => getComputedStyle(e).opacity")) < 1
    shot(alice, "review_tiers_03_settings_all_off")

    # when she picks 2 tiers (no reload): tiers 1 and 2 come alive, tier 3 stays off
    alice.select_option("#tiers", "2")
    expect(alice.get_by_label("What tier 1 reviews")).to_be_enabled()
    expect(alice.get_by_label("Sample rate of tier 2")).to_be_enabled()
    expect(alice.get_by_label("What tier 3 reviews")).to_be_disabled()
    alice.get_by_label("What tier 2 reviews").select_option(ReviewTier.Mode.SAMPLE)
    alice.get_by_label("Sample rate of tier 2").fill("0.25")
    shot(alice, "review_tiers_04_settings_two_on")
    alice.get_by_role("button", name="Save review settings").click()

    # then the tiers are saved, and the warning is gone from her row on the Members page
    expect(alice.locator(".alert.success")).to_have_text("Review settings saved.")
    project.refresh_from_db()
    assert tier_rules(project) == [TierRule(1, "all", 0.1), TierRule(2, "sample", 0.25)]
    expect(alice.get_by_label("What tier 3 reviews")).to_be_disabled()
    alice.goto(members_url)
    expect(alice.locator("#members tr", has_text="rita_reviewer")).to_be_visible()
    expect(alice.locator(".tier-warning")).to_have_count(0)
