# Rewards' texts move onto django-modeltranslation (rewards/translation.py).

from django.db import migrations, models


def english_from_original(apps, schema_editor):
    """The text typed so far is the English one; the French column (`name_fr`,
    `description_fr`, already there before modeltranslation) keeps its text."""
    Reward = apps.get_model("rewards", "Reward")
    for reward in Reward.objects.all().only("id", "name", "description"):
        Reward.objects.filter(pk=reward.pk).update(name_en=reward.name,
                                                   description_en=reward.description)


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0002_voucher_source'),
    ]

    operations = [
        migrations.AddField(
            model_name='reward',
            name='description_en',
            field=models.TextField(blank=True, null=True, verbose_name='description'),
        ),
        migrations.AddField(
            model_name='reward',
            name='name_en',
            field=models.CharField(max_length=100, null=True, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='reward',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='reward',
            name='description_fr',
            field=models.TextField(blank=True, null=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='reward',
            name='name',
            field=models.CharField(max_length=100, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='reward',
            name='name_fr',
            field=models.CharField(max_length=100, null=True, verbose_name='name'),
        ),
        migrations.RunPython(english_from_original, migrations.RunPython.noop),
    ]
