"""The seed services' stack, for comparison: a synchronous FastAPI endpoint
that makes a 256-px JPEG thumbnail with Pillow (draft mode + EXIF transpose),
served by uvicorn. Run: uvicorn --app-dir bench fastapi_thumb:app --workers 2"""
import io

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import Response
from PIL import Image, ImageOps

app = FastAPI()


@app.post('/thumbnail')
def thumbnail(file: UploadFile = File(...), size: int = Form(256)):
    image = Image.open(file.file)
    image.draft('RGB', (size, size))
    image = ImageOps.exif_transpose(image)
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.convert('RGB').save(out, 'JPEG', quality=80)
    return Response(out.getvalue(), media_type='image/jpeg')
