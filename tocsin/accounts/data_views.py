"""A member's own data: see what is stored, download it, delete the account."""

from __future__ import annotations

from django import forms
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tocsin.accounts import account
from tocsin.committees import access
from tocsin.members.models import Member

# The word a member types to delete their account, so it is a deliberate act and not a
# stray tap. The page shows it in the member's language; the English word also works, for
# someone following instructions written in English.
CONFIRM_WORD = _("DELETE")


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(max_length=40)

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip().casefold()
        if value not in {str(CONFIRM_WORD).casefold(), "delete"}:
            raise forms.ValidationError(
                _("Type %(word)s exactly to delete your account.") % {"word": CONFIRM_WORD}
            )
        return value


def _page(
    request: HttpRequest, member: Member, form: DeleteAccountForm, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "members/data.html",
        {
            "member": member,
            "form": form,
            "word": CONFIRM_WORD,
            "sole_organizer_of": account.sole_organizer_of(member),
        },
        status=status,
    )


@login_required
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    return _page(request, access.member_of(request), DeleteAccountForm())


@login_required
@require_GET
@never_cache
def export_data(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    response = JsonResponse(
        account.export_data(member), json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    response["Content-Disposition"] = 'attachment; filename="tocsin-my-data.json"'
    return response


@login_required
@require_POST
def delete_account(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = DeleteAccountForm(request.POST)
    if not form.is_valid():
        return _page(request, member, form, status=400)
    account.delete_account(member)
    logout(request)
    return render(request, "members/account_deleted.html")
