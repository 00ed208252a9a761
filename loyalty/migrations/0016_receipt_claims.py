# Receipts customers can claim: sales without a member, their claim codes, and each
# store's secret that signs them.

import django.db.models.deletion
import loyalty.models.stores
import secrets

from django.db import migrations, models


def give_each_store_its_secret(apps, schema_editor):
    # AddField's callable default runs once for all existing rows: one secret each.
    Store = apps.get_model("loyalty", "Store")
    for store in Store.objects.only("pk"):
        Store.objects.filter(pk=store.pk).update(claim_secret=secrets.token_hex(32))


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0015_brand'),
    ]

    operations = [
        migrations.AddField(
            model_name='store',
            name='claim_secret',
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_store_its_secret, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='store',
            name='claim_secret',
            field=models.CharField(default=loyalty.models.stores.new_claim_secret, editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name='purchase',
            name='member',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='loyalty.member', verbose_name='member'),
        ),
        migrations.CreateModel(
            name='ReceiptClaim',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(editable=False, max_length=16, unique=True, verbose_name='short code')),
                ('expires_at', models.DateTimeField(verbose_name='expires at')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('claimed_at', models.DateTimeField(blank=True, null=True, verbose_name='claimed at')),
                ('claimed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.member', verbose_name='claimed by')),
                ('purchase', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='claim', to='loyalty.purchase', verbose_name='purchase')),
            ],
            options={
                'verbose_name': 'receipt claim',
                'verbose_name_plural': 'receipt claims',
                'ordering': ['-created_at'],
            },
        ),
    ]
