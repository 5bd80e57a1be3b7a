"""The organizer's gazetteer page: add a public place on the map or by coordinates,
import a CSV or GeoJSON file, rename, move or remove places. Organizers of the committee
only; another committee's places are the same 404 as none."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from tocsin import geo
from tocsin.committees import access
from tocsin.committees.models import Committee, Role
from tocsin.places import importing
from tocsin.places.models import Place, PlaceKind, fold

MAX_FILE_BYTES = 60_000  # under the 64 kB body limit; the command takes any size


class PlaceForm(forms.ModelForm):
    class Meta:
        model = Place
        fields = ["name", "name_es", "kind", "lat", "lng"]
        widgets = {
            "lat": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            "lng": forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        }

    def __init__(self, *args, committee: Committee, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.committee = committee
        self.fields["lat"].help_text = gettext_lazy("Tap the map, or type the coordinates.")

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        found = importing.check(
            name=data.get("name") or "",
            name_es=data.get("name_es") or "",
            kind=data.get("kind") or "",
            lat=str(data.get("lat", "")),
            lng=str(data.get("lng", "")),
        )
        if isinstance(found, str):
            raise forms.ValidationError(found)
        cell = geo.cell_at(found.lat, found.lng, settings.AREA_RESOLUTION)
        if cell not in self.committee.cells():
            raise forms.ValidationError(
                _("That point is outside the committee's area. Places name where your people are.")
            )
        others = self.committee.places.exclude(pk=self.instance.pk)
        if others.filter(search_text=_folded(found.name, found.name_es)).exists():
            raise forms.ValidationError(_("The committee already has a place with that name."))
        if not self.instance.pk and self.committee.places.count() >= importing.MAX_PLACES:
            raise forms.ValidationError(
                _("A committee can have at most %(n)s places.") % {"n": importing.MAX_PLACES}
            )
        data.update(name=found.name, name_es=found.name_es, lat=found.lat, lng=found.lng)
        return data


def _folded(name: str, name_es: str) -> str:
    return fold(f"{name} {name_es}")


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV or GeoJSON file"),
        help_text=gettext_lazy(
            "CSV with the columns name, lat, lng and, if you like, kind and name_es; or a "
            "GeoJSON FeatureCollection of points. Up to 60 kB here; larger files with "
            "`tocsin manage places import`."
        ),
    )


def _page(
    request: HttpRequest,
    committee: Committee,
    *,
    form: PlaceForm | None = None,
    import_form: ImportForm | None = None,
    problems: list[importing.Problem] | None = None,
    status: int = 200,
) -> HttpResponse:
    center = settings.MAP_CENTER
    cells = committee.cells()
    if cells:
        center = geo.center(next(iter(cells)))
    return render(
        request,
        "places/manage.html",
        {
            "committee": committee,
            "places": committee.places.all(),
            "form": form or PlaceForm(committee=committee),
            "import_form": import_form or ImportForm(),
            "problems": problems or [],
            "map_center": center,
            "max_places": importing.MAX_PLACES,
            "kinds": PlaceKind.choices,
        },
        status=status,
    )


@access.staff_view
@require_http_methods(["GET", "POST"])
def places(request: HttpRequest, slug: str) -> HttpResponse:
    """The committee's named places, and a new one added on the map or by coordinates."""
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    if request.method == "GET":
        return _page(request, committee)
    form = PlaceForm(request.POST, committee=committee, instance=Place(committee=committee))
    if not form.is_valid():
        return _page(request, committee, form=form, status=400)
    place = form.save()
    messages.success(request, _("Added “%(name)s”.") % {"name": place.name})
    return redirect("committee_places", slug=committee.slug)


@access.staff_view
@require_POST
def import_places(request: HttpRequest, slug: str) -> HttpResponse:
    """Import a CSV or GeoJSON file: all of it, or nothing with every problem listed."""
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, committee, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        problems = [importing.Problem(_("file"), _("it is larger than 60 kB"))]
        return _page(request, committee, problems=problems, status=400)
    try:
        result = importing.import_file(committee, upload.read(), upload.name or "")
    except importing.Rejected as e:
        return _page(request, committee, problems=e.problems, status=400)
    messages.success(
        request,
        ngettext(
            "Imported %(n)d place (%(added)d new, %(updated)d updated).",
            "Imported %(n)d places (%(added)d new, %(updated)d updated).",
            result.added + result.updated,
        )
        % {"n": result.added + result.updated, "added": result.added, "updated": result.updated},
    )
    return redirect("committee_places", slug=committee.slug)


def _place_of(committee: Committee, pk: int) -> Place:
    place = committee.places.filter(pk=pk).first()
    if place is None:
        raise Http404
    return place


@access.staff_view
@require_POST
def edit_place(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Rename or move one of the committee's places."""
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    place = _place_of(committee, pk)
    form = PlaceForm(request.POST, committee=committee, instance=place)
    if not form.is_valid():
        for error in form.non_field_errors():
            messages.error(request, str(error))
        for field in form:
            for error in field.errors:
                messages.error(request, f"{field.label}: {error}")
        return redirect("committee_places", slug=committee.slug)
    form.save()
    messages.success(request, _("Saved “%(name)s”.") % {"name": place.name})
    return redirect("committee_places", slug=committee.slug)


@access.staff_view
@require_POST
def delete_place(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    committee, _m = access.committee_for(request, slug, Role.ORGANIZER)
    place = _place_of(committee, pk)
    place.delete()
    messages.success(request, _("Removed “%(name)s”.") % {"name": place.name})
    return redirect("committee_places", slug=committee.slug)
