# Staff-typed texts onto django-modeltranslation; ledger entries record their details.

from django.db import migrations, models

# The translated fields of loyalty/translation.py: what was typed so far is English.
TRANSLATED = {"Tier": ("name", "benefits"), "EarningRule": ("name",), "Multiplier": ("name",),
              "ActionRule": ("name",), "Segment": ("name", "description")}


def english_from_original(apps, schema_editor):
    """Copy each text into its English column; segments' French columns (`name_fr`,
    `description_fr`, there before modeltranslation) keep their text."""
    for model_name, fields in TRANSLATED.items():
        model = apps.get_model("loyalty", model_name)
        for row in model.objects.all().values("pk", *fields):
            model.objects.filter(pk=row.pop("pk")).update(
                **{f"{field}_en": value for field, value in row.items()})


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0016_receipt_claims'),
    ]

    operations = [
        migrations.AddField(
            model_name='actionrule',
            name='name_en',
            field=models.CharField(max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='actionrule',
            name='name_fr',
            field=models.CharField(max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='earningrule',
            name='name_en',
            field=models.CharField(help_text='Shown to members, e.g. “1 point per euro”.', max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='earningrule',
            name='name_fr',
            field=models.CharField(help_text='Shown to members, e.g. “1 point per euro”.', max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='multiplier',
            name='name_en',
            field=models.CharField(help_text='Shown to members, e.g. “1 point per euro”.', max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='multiplier',
            name='name_fr',
            field=models.CharField(help_text='Shown to members, e.g. “1 point per euro”.', max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='pointsentry',
            name='details',
            field=models.JSONField(blank=True, db_default={}, default=dict, help_text="What the entry records (rule, tier, purchase, store...), rendered in the reader's language when shown.", verbose_name='details'),
        ),
        migrations.AddField(
            model_name='segment',
            name='description_en',
            field=models.TextField(blank=True, null=True, verbose_name='description'),
        ),
        migrations.AddField(
            model_name='segment',
            name='name_en',
            field=models.CharField(max_length=60, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='tier',
            name='benefits_en',
            field=models.TextField(blank=True, help_text='One per line.', null=True, verbose_name='benefits'),
        ),
        migrations.AddField(
            model_name='tier',
            name='benefits_fr',
            field=models.TextField(blank=True, help_text='One per line.', null=True, verbose_name='benefits'),
        ),
        migrations.AddField(
            model_name='tier',
            name='name_en',
            field=models.CharField(max_length=60, null=True, verbose_name='name'),
        ),
        migrations.AddField(
            model_name='tier',
            name='name_fr',
            field=models.CharField(max_length=60, null=True, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='segment',
            name='description_fr',
            field=models.TextField(blank=True, null=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='segment',
            name='name_fr',
            field=models.CharField(max_length=60, null=True, verbose_name='name'),
        ),
        migrations.RunPython(english_from_original, migrations.RunPython.noop),
    ]
