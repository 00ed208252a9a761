from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from loyalty.portal import brand as portal_brand
from loyalty.portal import card as portal_card
from loyalty.portal import claims as portal_claims
from loyalty.portal import unsubscribe as portal_unsubscribe
from loyalty.portal import views as portal

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("loyalty.api.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("language/", portal.language, name="language"),
    path("brand.css", portal_brand.brand_css, name="brand-css"),
    path("manifest.webmanifest", portal_brand.manifest, name="manifest"),
    path("icons/icon-<int:size>.png", portal_brand.icon, name="brand-icon"),
    path("favicon.ico", portal_brand.favicon, name="favicon"),
    path("brand/logo/<str:name>", portal_brand.logo, name="brand-logo"),
    path("sw.js", portal_brand.service_worker, name="service-worker"),
    path("", include("rewards.urls")),
    path("staff/", include("loyalty.staff.urls")),
    path("card/", portal_card.card, name="card"),
    path("card/token.json", portal_card.card_token, name="card-token"),
    path("card/offline/", portal_card.offline_card, name="card-offline"),
    path("history/", portal.history, name="history"),
    path("history/purchases/<int:purchase_id>/review/", portal.review_purchase,
         name="review-purchase"),
    path("profile/", portal.profile, name="profile"),
    path("profile/export/", portal.export, name="profile-export"),
    path("profile/delete/", portal.delete_account, name="profile-delete"),
    path("claim/", portal_claims.claim_form, name="claim-form"),
    path("claim/<str:code>/", portal_claims.claim, name="claim"),
    path("join/<str:code>/", portal.join, name="join"),
    path("unsubscribe/<str:token>/", portal_unsubscribe.unsubscribe, name="unsubscribe"),
    path("", portal.home, name="home"),
]

if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # The email provider's tracking webhooks: bounces and complaints (loyalty.email_tracking).
    urlpatterns.insert(0, path("anymail/", include("anymail.urls")))

if settings.DEBUG:  # pragma: no cover
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Under /api/ errors answer in the API's JSON shape; elsewhere, Django's pages.
handler404 = "loyalty.api.errors.handler404"
handler500 = "loyalty.api.errors.handler500"
