"""Webhook deliveries become their own durable schedule (an outbox swept by beat).

Open deliveries get a due time (`next_attempt_at`, now indexed for the sweeper),
a count of failures in a row (the retry series) and a claim (the batch a worker
holds). The old sweeper's beat entry is removed: its job is the dispatcher's now.
"""

from django.db import migrations, models
from django.db.models import F


def schedule_open_deliveries(apps, schema_editor):
    Delivery = apps.get_model("loyalty", "WebhookDelivery")
    Delivery.objects.filter(status="pending", next_attempt_at__isnull=True).update(
        next_attempt_at=F("created_at"))
    Delivery.objects.filter(status="retrying").update(failures=F("attempts"))
    Delivery.objects.filter(status="retrying", next_attempt_at__isnull=True).update(
        next_attempt_at=F("created_at"))
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name="requeue-stalled-webhooks").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0006_memberinsight_fillfactor'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhookdelivery',
            name='claim',
            field=models.UUIDField(blank=True, editable=False, null=True, verbose_name='claim'),
        ),
        migrations.AddField(
            model_name='webhookdelivery',
            name='failures',
            field=models.PositiveSmallIntegerField(default=0, help_text='Failed attempts since it was queued or last retried by hand.', verbose_name='failures in a row'),
        ),
        migrations.AlterField(
            model_name='webhookdelivery',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, help_text='When it is due to be sent (again); empty once delivered or given up.', null=True, verbose_name='next attempt'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('status__in', ['pending', 'retrying'])), fields=['next_attempt_at'], name='webhook_due'),
        ),
        migrations.RunPython(schedule_open_deliveries, migrations.RunPython.noop),
    ]
