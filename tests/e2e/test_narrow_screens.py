"""The dashboard on a phone-sized screen (390 px) and a wide one: the header folds its links into
a menu that reads light on dark (computed colours, not white on white), and the planner opens
on an example that fits with its hardware box inside its card."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.signin import PASSWORD, sign_in
from tests.factories import (
    AcceleratorFactory,
    ClusterFactory,
    MembershipFactory,
    NodeFactory,
    OrganisationFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser]

LONG_CLUSTER = "research-cluster-in-the-north-datacentre-hall-b"

# The contrast ratio (WCAG 2) of an element's text with the first opaque background behind it.
CONTRAST = """
(element) => {
  const parse = (value) => {
    const [r, g, b, a = 1] = value.match(/[\\d.]+/g).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const channel = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  let node = element;
  let background = null;
  while (node && node.nodeType === 1) {
    const colour = parse(getComputedStyle(node).backgroundColor);
    if (colour.a > 0.5) { background = colour; break; }
    node = node.parentElement;
  }
  background = background ?? { r: 255, g: 255, b: 255 };
  const text = luminance(parse(getComputedStyle(element).color));
  const [lighter, darker] = [text, luminance(background)].sort((x, y) => y - x);
  return (lighter + 0.05) / (darker + 0.05);
}
"""


def seed() -> None:
    from apps.inventory.models import AcceleratorModel
    from apps.quotas.models import Pool, Quota

    org = OrganisationFactory(slug="narrow")
    cluster = ClusterFactory(organisation=org, name=LONG_CLUSTER)
    team = TeamFactory(organisation=org, slug="narrow-team", default_cluster=cluster)
    user = UserFactory(username="narrow-user", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role="admin")
    h100 = AcceleratorModel.objects.get(name="H100 SXM")
    node = NodeFactory(cluster=cluster, hostname="narrow-node")
    for index in range(8):
        AcceleratorFactory(node=node, index=index, model=h100)
    pool = Pool.objects.create(name="narrow-h100", cluster=cluster, accelerator_model=h100)
    Quota.objects.create(team=team, pool=pool, guaranteed=1, max=8)


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_at_390_px_the_header_folds_into_a_menu_that_reads_light_on_dark(
    transactional_db: Any, catalog: None, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    seed()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "narrow-user")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    assert no_sideways_scroll(page)

    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    links = [*nav.get_by_role("link").all(), *page.locator(".user-menu a").all()]
    assert len(links) == 12
    for link in links:
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, link
        ratio = link.evaluate(CONTRAST)
        assert ratio >= 4.5, f"{link.text_content()}: contrast {ratio:.2f}"
    assert page.get_by_test_id("current-user").evaluate(CONTRAST) >= 4.5
    assert no_sideways_scroll(page)

    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(nav).to_be_hidden()

    menu.click()
    nav.get_by_role("link", name="Planner").click()
    expect(page).to_have_url(re.compile(r"/planner$"))
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()


@pytest.mark.parametrize("width", [1280, 1440])
def test_on_a_wide_screen_every_link_is_on_the_bar(
    transactional_db: Any, catalog: None, live_server: Any, page: Any, width: int
) -> None:
    from playwright.sync_api import expect

    seed()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "narrow-user")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    header = page.locator("header.topbar")
    header_box = header.bounding_box()
    assert header_box is not None
    for link in page.locator("header.topbar a").all():
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= header_box["y"] + header_box["height"], link.text_content()
        assert box["x"] + box["width"] <= width, link.text_content()
        assert link.evaluate(CONTRAST) >= 4.5, link.text_content()
    assert no_sideways_scroll(page)


@pytest.mark.parametrize("width", [390, 1440])
def test_the_planner_opens_on_a_plan_that_fits_with_its_hardware_inside_its_card(
    transactional_db: Any, catalog: None, live_server: Any, page: Any, width: int
) -> None:
    from playwright.sync_api import expect

    seed()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "narrow-user")
    page.goto(f"{live_server.url}/planner")
    expect(page.get_by_test_id("fit")).to_have_text("Fits")
    hardware = page.get_by_label("Pool or accelerator")
    expect(hardware).to_have_value(re.compile(r"^pool:"))
    assert LONG_CLUSTER in hardware.locator("option:checked").inner_text()

    card = page.get_by_role("form", name="Plan").bounding_box()
    fieldset = page.locator("fieldset", has=page.get_by_text("Hardware", exact=True)).bounding_box()
    select = hardware.bounding_box()
    assert card is not None and fieldset is not None and select is not None
    right = card["x"] + card["width"]
    assert fieldset["x"] + fieldset["width"] <= right + 0.5
    assert select["x"] + select["width"] <= right + 0.5
    assert no_sideways_scroll(page)
