from django.contrib.auth import get_user_model

from labeling.demo import demo_project_load
from labeling.models import Annotation, Concept, DictionaryExample, Input, Project


def test_demo_loads_digits_once(db):
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw-123456789")

    project, created = demo_project_load(admin=admin)
    again, created_again = demo_project_load(admin=admin)

    assert created and not created_again and again.id == project.id
    assert Project.objects.count() == 1
    assert Input.objects.filter(project=project).count() == 1797
    assert {i.width for i in Input.objects.filter(project=project)[:50]} == {8}
    parent = Concept.objects.get(project=project, key="digit")
    assert parent.exclusive
    assert sorted(parent.children.values_list("key", flat=True)) == [str(d) for d in range(10)]
    assert Annotation.objects.filter(project=project, status="accepted").count() > 200
    for child in parent.children.all():
        entry = child.dictionary.get()
        assert entry.definition and entry.is_not
        kinds = set(entry.examples.values_list("kind", flat=True))
        assert kinds == {DictionaryExample.Kind.IDEAL, DictionaryExample.Kind.NOT_IDEAL}
