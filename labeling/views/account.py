"""The user's own API key: create (shown once), see when it was made, revoke."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from rest_framework.authtoken.models import Token


@login_required
def api_key(request: HttpRequest) -> HttpResponse:
    new_key = ""
    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        if request.POST.get("action") == "create":
            new_key = Token.objects.create(user=request.user).key
        else:
            messages.success(request, "API key revoked: requests with it are refused now.")
            return redirect("labeling:api_key")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "account/api_key.html", {"token": token, "new_key": new_key})


urlpatterns = [path("account/api-key/", api_key, name="api_key")]
