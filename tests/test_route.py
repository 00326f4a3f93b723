"""Routing: a step goes to the adapter named for the task its instruction matches."""

from __future__ import annotations

from ils.infer.execute import _routed
from ils.infer.plans import Plan, Step
from ils.infer.route import TemplateRouter, registry_templates, route


def test_router_trained_on_registry_templates_picks_the_task():
    router = TemplateRouter(registry_templates())
    assert router.predict("Extract the email address from: write to bo@x.org today") == "extract_email"
    assert router.predict("Convert to a JSON object: name: Ada; age: 3") == "kv_to_json"
    assert route("Extract the email address from this text", {"default", "extract_email"}, router) == "extract_email"
    # the best task has no adapter: the step stays on the default model, not on an unrelated adapter
    assert route("Convert to a JSON object: a: 1", {"default", "extract_email"}, router) == "default"


def test_route_falls_back_to_default_and_rewrites_plan_steps():
    router = TemplateRouter({"a_task": ["apples and pears"], "b_task": ["cars and trucks"]})
    assert router.predict("I like pears", among={"b_task"}) == "b_task"
    assert route("anything about pears", {"default", "b_task"}, router) == "default"
    plan = Plan(instruction="Extract the email address", steps=[Step(name="s", prompt="{{instruction}}", model="route")])
    assert _routed(plan, {"default", "extract_email"}).steps[0].model == "extract_email"
    assert _routed(plan, {"default"}).steps[0].model == "default"
