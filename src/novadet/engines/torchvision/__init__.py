"""The torchvision engine: FCOS and RetinaNet on the ImageNet MobileNetV2, trained by novadet's own loop."""
